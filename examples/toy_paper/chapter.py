"""The toy paper's one chapter, T-1: does a small MLP learn the stripes, with and without label smoothing?"""

from pathlib import Path

from reprolib import claims as C
from reprolib import params as P
from reprolib import verdicts as V
from reprolib.chapter import Chapter
from reprolib.figures import mean_band, new_figure
from reprolib.models import MLP
from reprolib.sweep import RunSpec
from reprolib.training import Recipe

from .method import SmoothedCE
from .task import StripesTask


class ToyChapter(Chapter):
    id = "T-1"
    title = "Toy: stripes, with and without label smoothing"
    notebook = "toy_chapter.md"
    notebooks_dir = Path(__file__).parent
    presets = {
        "smoke": {"smoothing": [0.0, 0.2], "runs": 2, "epochs": 2},
        "course": {"smoothing": [0.0, 0.1, 0.2], "runs": 5, "epochs": 10},
        "paper": {"smoothing": [0.0, 0.1, 0.2], "runs": 20, "epochs": 50},
    }
    parameters = {"smoothing": P.numbers(0, 1, open_high=True), "runs": P.integer(1, 100), "epochs": P.integer(1)}
    claim_rules = ("positive",)  # the verdict rules of its claims, each calibrated in calibration.py

    def specs(self, config):
        recipe = Recipe(epochs=config["epochs"], batch_size=32, lr=0.1)
        return [
            RunSpec(
                StripesTask(seed=run),
                MLP(hidden=16, depth=1),
                recipe,
                seed=run,
                method=SmoothedCE(smoothing=s),
                tags={"smoothing": s, "run": run},
            )
            for s in config["smoothing"]
            for run in range(config["runs"])
        ]

    def figure(self, results, config):
        fig, axes = new_figure(1)
        if not results.empty:
            mean_band(axes[0, 0], results, "smoothing", "metrics.accuracy")
        axes[0, 0].set(xlabel="label smoothing", ylabel="test accuracy")
        return fig

    def claims(self, results, config):
        above_chance = {s: part["metrics.accuracy"].to_numpy() - 0.5 for s, part in results.groupby("smoothing")}
        return C.claims_frame(
            [C.judged("the stripes are learned (accuracy above chance)", "> ½", V.positive(above_chance))]
        )


CHAPTER = ToyChapter()
