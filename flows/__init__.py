"""Prefect flows and tasks: orchestration only; the logic lives in the packages."""
