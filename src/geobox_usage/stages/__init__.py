"""The built-in stages, one module each, each a pluggy plugin registered by name.

Outermost first: ``logging`` → ``cache`` → ``retry`` → ``circuit_breaker`` →
``rate_limit`` → ``auth`` → ``transport``.
"""
