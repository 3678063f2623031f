"""``coordrl.agents``: trainers (SB3 algorithms, the on-device PPO), evaluation, sweep runners."""

if __name__ != "coordrl.agents":  # the checkout's folder, imported by its bare name
    raise ImportError(
        f"this folder installs as coordrl.agents: import coordrl.agents, not {__name__}"
    )
