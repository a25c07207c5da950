"""Collections through the real client: the client's collection API and its rules
(a private collection is invisible, items naming what a reader cannot see are hidden)."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from .conftest import Server


def test_collection_api_and_its_access_rules(server: Server, repo_name: str) -> None:
    srv = server
    owner = HfApi(endpoint=srv.url, token=srv.user("curator"))
    other = HfApi(endpoint=srv.url, token=srv.user("visitor"))
    anonymous = HfApi(endpoint=srv.url, token=False)
    model = owner.create_repo(f"curator/{repo_name}").repo_id
    dataset = owner.create_repo(f"curator/{repo_name}-d", repo_type="dataset").repo_id
    secret = owner.create_repo(f"curator/{repo_name}-secret", private=True).repo_id

    collection = owner.create_collection("My cool stuff", description="Cool things")
    assert collection.slug.startswith("curator/my-cool-stuff-")
    assert collection.description == "Cool things" and collection.items == []
    assert collection.url == f"{srv.url}/collections/{collection.slug}"
    nested = owner.create_collection(f"nested {repo_name}", private=True)

    owner.add_collection_item(collection.slug, model, "model", note="This is my model")
    owner.add_collection_item(collection.slug, dataset, "dataset")
    owner.add_collection_item(collection.slug, secret, "model")
    owner.add_collection_item(collection.slug, nested.slug, "collection")
    with pytest.raises(HfHubHTTPError) as twice:
        owner.add_collection_item(collection.slug, model, "model")
    assert twice.value.response.status_code == 409
    owner.add_collection_item(collection.slug, model, "model", exists_ok=True)
    with pytest.raises(HfHubHTTPError) as missing:
        owner.add_collection_item(collection.slug, model, "dataset")
    assert missing.value.response.status_code == 404
    # Someone else cannot add a private repository they cannot see, nor change the list.
    with pytest.raises(HfHubHTTPError) as stranger:
        other.add_collection_item(collection.slug, dataset, "dataset", exists_ok=True)
    assert stranger.value.response.status_code == 403

    full = owner.get_collection(collection.slug)
    assert [(i.item_id, i.item_type) for i in full.items] == [
        (model, "model"),
        (dataset, "dataset"),
        (secret, "model"),
        (nested.slug, "collection"),
    ]
    assert full.items[0].note == "This is my model" and full.items[1].note is None
    # Readers see only what they may see: not the private repository or collection.
    for reader in (other, anonymous):
        seen = reader.get_collection(collection.slug)
        assert [i.item_id for i in seen.items] == [model, dataset]
        with pytest.raises(HfHubHTTPError) as hidden:
            reader.get_collection(nested.slug)
        assert hidden.value.response.status_code == 404
    listed = [c.slug for c in other.list_collections(owner="curator")]
    assert collection.slug in listed and nested.slug not in listed
    by_item = [c.slug for c in anonymous.list_collections(item=f"models/{model}")]
    assert by_item == [collection.slug]
    assert list(other.list_collections(item=f"models/{secret}")) == []

    # Items move and change; a deleted one goes, positions close up.
    owner.update_collection_item(
        collection.slug, full.items[0].item_object_id, note="New note", position=1
    )
    after = owner.get_collection(collection.slug)
    assert [i.item_id for i in after.items][:2] == [dataset, model]
    assert after.items[1].note == "New note"
    owner.delete_collection_item(collection.slug, after.items[1].item_object_id)
    owner.delete_collection_item(collection.slug, after.items[1].item_object_id, missing_ok=True)
    assert [i.position for i in owner.get_collection(collection.slug).items] == [0, 1, 2]

    # Metadata: a new title is a new slug for the same collection; private hides it.
    changed = owner.update_collection_metadata(
        collection.slug, title="New title", private=True, theme="pink"
    )
    assert changed.slug != collection.slug and changed.theme == "pink" and changed.private
    assert changed.slug.rsplit("-", 1)[1] == collection.slug.rsplit("-", 1)[1]
    assert owner.get_collection(collection.slug).slug == changed.slug
    with pytest.raises(HfHubHTTPError):
        other.get_collection(changed.slug)
    with pytest.raises(HfHubHTTPError):
        other.delete_collection(changed.slug)
    # A deleted repository leaves every collection.
    owner.delete_repo(dataset, repo_type="dataset")
    assert [i.item_id for i in owner.get_collection(changed.slug).items] == [secret, nested.slug]

    owner.delete_collection(changed.slug)
    with pytest.raises(HfHubHTTPError):
        owner.delete_collection(changed.slug)
    owner.delete_collection(changed.slug, missing_ok=True)
    assert httpx.get(f"{srv.url}/api/collections/curator/x-{'0' * 24}").status_code == 404
