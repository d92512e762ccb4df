import os


def pytest_collection_modifyitems(config, items):
    """The role-matrix writer runs only when asked (RIS_WRITE_ROLE_MATRIX=1): deselected, not skipped."""
    if os.environ.get("RIS_WRITE_ROLE_MATRIX"):
        return
    kept = [item for item in items if item.get_closest_marker("regenerate") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
