"""The breaker stage (built in a later change; until then this plugin contributes no stage)."""
