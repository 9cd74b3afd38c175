"""No models of its own: tokens are knox's AuthToken, second factors django-otp's devices, lockouts axes'."""
