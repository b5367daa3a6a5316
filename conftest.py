"""Repo-level test setup: everything runs offline, on 127.0.0.1 only."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
