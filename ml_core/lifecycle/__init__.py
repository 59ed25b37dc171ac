"""A registered version's life: the promotion gate, the paired Sharpe test, paper books and the
rollout stages (pure: persistence and alias moves live in ``tasks``)."""
