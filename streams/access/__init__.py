"""Who may do what on the broker: the grants Platewatch derives from the agency registry and the policy."""
