"""The chaos suite: faults injected into a running deployment, checked from the outside (`make chaos`)."""
