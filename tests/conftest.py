"""Shared test setup. Qt must run offscreen, and this must be set before Qt is imported."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
