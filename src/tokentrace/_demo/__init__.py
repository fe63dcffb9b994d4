"""Demo scenarios: real SDK calls against the fake provider, one module per provider."""
