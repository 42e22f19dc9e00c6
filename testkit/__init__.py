"""World-building and local stand-ins shared by tests and benchmarks; not shipped in the
wheel.

* ``testkit.world`` — valid NITs, a registered buyer and mining operator with production
  (``make_world``), drafts and submitted purchases, the acceptance code a seller got;
* ``testkit.readmodels`` — read models against the aggregates and against a fresh replay;
* ``testkit.mailserver`` / ``testkit.sms`` — a local SMTP server and a Twilio Messages
  API stand-in, both stoppable to simulate an outage;
* ``testkit.proxy`` — a TCP proxy that loses answers after the server committed.

Pytest fixtures stay in the ``conftest.py`` files of ``tests/``; they wrap these.
"""
