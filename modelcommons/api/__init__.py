"""The Hub HTTP API, as the huggingface_hub client uses it, one module per noun."""
