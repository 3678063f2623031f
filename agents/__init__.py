"""SB3 algorithm builders, the on-device PPO and the training/evaluation runners."""
