# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
