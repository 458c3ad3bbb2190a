"""Rollout notifications and gates: webhooks the operator calls, never waits on in a pass.

- :mod:`.payloads`: which operator Events are rollout events, and the Generic and Slack
  bodies (pure);
- :mod:`.hooks`: the Secret-sourced URL and token of a hook, and one call with its timeout
  and retries;
- :mod:`.notifier`: the bounded, per-receiver delivery queues fed by the Events a pass posts;
- :mod:`.gates`: the gate calls the rollout machine asks for, whose answers the next pass
  observes.
"""
