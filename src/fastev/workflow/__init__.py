"""Event-driven workflows (``fastev workflow run``): route topics in, actions (commands, webhooks) out.

The modules are imported where they are needed; this package imports nothing eagerly, so
``fastev workflow check`` pays only for the config, the templates and the matcher.
"""
from __future__ import annotations
