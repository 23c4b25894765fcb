"""The toy paper's calibration scenario: the rule of T-1's claim on simulated runs in T-1's shape (runs per
setting, settings) at `course` and `paper`, registered with the book's one registry."""

from reprolib import verdict_calibration as K

SCENARIOS = [
    K.Scenario(
        "T-1",
        "the stripes are learned: accuracy − ½ > 0 at every smoothing",
        "positive",
        "accuracy",
        {"course": {"runs": 5, "settings": 3}, "paper": {"runs": 20, "settings": 3}},
        "one smoothing at chance",
        "assumed: accuracy 0.9 at every smoothing",
        K.sign_settings(1, 0.4),
    ),
]
K.register_scenarios(*SCENARIOS, source=__name__)
