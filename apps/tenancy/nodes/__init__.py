"""Nodes and replicas: where each workspace lives and how its file reaches other nodes.

``replication`` (Litestream configuration, restores, positions), ``replicas`` (placements),
``supervisor`` (this node's followers), ``replicapool`` (replica read connections kept
between requests), ``bookmarks`` (read-your-writes), ``forwarding`` and
``proxy`` (requests for another node), ``health`` (probes).
"""
