"""E-mail notifications: new posts, comments, @mentions, the daily digest, unsubscribing.

Public API:

- ``mentions.link_mentions(html)``: link ``@name`` to the person; return the html and
  the ids of the members mentioned (posts call it when they render a body).
- ``services.post_published``, ``services.comment_added``, ``services.post_edited``:
  queue the notifications of a write, inside its unit of work (jobs run after commit).
- ``services.digest_schedule_ensure``: make sure the workspace's daily digest is queued.
- ``tokens.unsubscribe_url``: a signed link that turns one kind of e-mail off.
"""
