"""The workspace's commit position: one row in each tenant file, advanced by every unit of work."""
