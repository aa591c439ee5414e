"""The framework-free data layer shared by the async service and the sync Flask twin."""
