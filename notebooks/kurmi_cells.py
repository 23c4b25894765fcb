"""The cell texts of the Part III notebooks (see generate_kurmi.py)."""

SETUP = r"""
**Methods** (`reprolib.methods`). A feature extractor F, a classifier C and a discriminator D that predicts
the bias attribute from the features (eq. 1). *Adversarial*: D's cross-entropy is reversed into F through a
gradient-reversal layer with coefficient λ (eq. 3). *GBA* (eqs. 4–8): g = ∂ max D(f) / ∂f; where D is right
the features with g > 0 are dropped (a = 0), where it is wrong the features with g < 0 are dropped; C sees
f · a. *GBA-n* drops g > 0 whatever D says; *GBA-c* drops g > 0 only where D is right.

**Choices the paper leaves open, made explicit here** (parameters of this notebook):
- `test_protocol`: the mask needs the bias label (eq. 4). At test time it can come from the true bias label
  (`true`), be left out (`none`), or come from D's own prediction (`predicted`; D is then always "right" and
  the mask is GBA-n's). The tables use `test_protocol`; the protocol table shows all three.
- `discriminator_input`: D sees the unmasked features f (`unmasked`, default) or what C sees, f · a (`masked`).
- `lambdas`, `lambda_schedule`: λ is chosen per setting and method from the grid by the mean over runs on a
  **validation split** (20% of the training images held out, with the unbiased bias attribute of the test
  split), never on the test set; `constant` keeps λ, `ganin` ramps it up as 2/(1+e^(−10p)) − 1.
- D is a two-layer perceptron (100 hidden units); every method trains with SGD (momentum 0.9, constant
  learning rate `lr`, no weight decay) — the paper states neither.
"""

T4_INTRO = r"""
(k-t4)=
# K-T4 · Colored MNIST at 95% and 98% skew

*Kurmi, Sharma, Sharma & Namboodiri (2022), "Gradient Based Activations for Accurate Bias-Free Learning",
Table 4.*

Colored MNIST (Nam et al. 2020): every digit is painted in a colour. In training, digit c is painted in
colour c with rate *skew* (95% or 98%, exact per class) and in one of the nine other colours otherwise; each
image's colour is perturbed by Gaussian noise (σ = 0.05). The test set is unbiased: every digit appears in
every colour equally often, so only 10% of it is bias-aligned. The paper's model is a multi-layer perceptron
with three hidden layers; its table reports the accuracy on the unbiased test set.

At `course` the images are scikit-learn's 8×8 digits painted the same way (1,257 training images, 540 test
images): the mechanism — a colour that is a far easier cue than the shape — is kept; the scale is not
(at 98% skew only ≈ 25 training images conflict with the bias).
""" + SETUP + r"""
**Parameters** (papermill): `preset`, `dataset` (`digits` or `mnist`), `skews`, `methods`, `runs`, `epochs`,
`lr`, `batch_size`, `lambdas`, `lambda_schedule`, `discriminator_input`, `test_protocol`, `model` (`mlp`),
`width` (hidden units), `device`. A value left at `None` takes the preset's.
"""

T4_BODY = [
    ("md", """
## Training

Every (skew, method, λ, split, run) is one stored run; runs of one method that differ only in seed, skew or λ
train together as one multi-run model. Rerunning resumes where an interruption stopped.
"""),
    ("code", """
results = chapter.run(config)
len(results)
"""),
    ("md", """
## Table 4

Accuracy (%) on the unbiased test set, mean ± 95% half-interval over runs, beside the paper's number; λ is the
coefficient selected on the validation split. Filter-Drop and REPAIR are not implemented in this book.
"""),
    ("code", """
chapter.table(results, config)
"""),
    ("md", """
## How sensitive is each method to λ?

Test accuracy on the bias-conflicting images (top) and on the whole unbiased test set (bottom) against λ, for
the adversarial method and GBA; the dotted line is vanilla training, the dashed lines the λ chosen on
validation.
"""),
    ("code", """
fig = chapter.figure(results, config)
"""),
    ("md", """
## Which test protocol can the paper's numbers be?

GBA's test accuracy with the mask built from the true bias label, without a mask, and with the mask built from
the discriminator's prediction. Only `none` and `predicted` are available to a deployed model (they need no
bias label); `true` uses the test images' bias labels, which the paper's eq. 4 requires but does not discuss.
"""),
    ("code", """
chapter.protocol_table(results, config)
"""),
    ("md", """
## Claims

Verdict rules (fixed before any run, in `reprolib/chapters/kurmi.py`): "A improves on B" compares paired runs
(same seed, same data) per skew: `reproduced` when every 95% interval of the differences lies above 0,
`partly` when every mean does (or half the intervals), else `not reproduced`. "Most accurate" needs the best
mean in every skew and an interval of the difference to the runner-up above 0 (`partly`: best mean in one).
"""),
    ("code", """
claims = chapter.claims(results, config)
claims
"""),
]
