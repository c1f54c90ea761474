"""The paper's four procedures (sheet rows 32-43 for DS-CNN; the same shape for every model).

Each training phase lists every operation it executes; the ``paper`` MACC convention books only
the sheet's (forward, backward, weight update, goodness, normalization, error, projection), so
the sheet's totals come out unchanged, and ``executed`` books the rest too.
"""

from __future__ import annotations

from . import Phase, Procedure, Term, register

_INFERENCE = Phase(terms=(Term("forward"),), memory="largest_pair", params_in_ram=False)

#: applying the updates: once per update pass, or once per step when gradients are buffered
_APPLY = (Term("optimizer", "applications"), Term("gradient_accumulation", "accumulations"))

register(Procedure(
    id="bp",
    name="Backpropagation",
    reference="Rumelhart, Hinton & Williams, Nature 1986",
    training=Phase(
        # sheet B33 = W18 + R20 + R22 + W28
        terms=(Term("forward"), Term("backward"), Term("weight_update"), Term("error"),
               Term("bias_gradient"), Term("gradient_sum"), *_APPLY),
        memory="all_buffers", params_in_ram=True,
    ),
    inference=_INFERENCE,
))

register(Procedure(
    id="ff",
    name="Forward-Forward",
    reference="Hinton, 'The Forward-Forward Algorithm', arXiv 2212.13345, 2022",
    training=Phase(
        # a positive and a negative pass, each with its goodness, normalization and local
        # update; no softmax head: sheet B36 = 2*(R18 + R22 + R24 + R26)
        terms=(Term("forward", 2, "body"), Term("weight_update", 2), Term("goodness", 2),
               Term("normalization", 2, "body"), Term("bias_gradient", 2), Term("local_error", 2, "trained"),
               *_APPLY),
        memory="largest_pair_plus_input", params_in_ram=True,
    ),
    inference=Phase(
        # supervised: one pass per candidate label, sheet C36 = 12*(R18 + R24 + R26);
        # unsupervised (the autoencoder): one pass, C176 = M158 + M164 + M166
        terms=tuple(Term(op, "classes", "body") for op in ("forward", "goodness", "normalization")),
        memory=(("supervised", "largest_pair_plus_input"), ("unsupervised", "largest_pair")),
        params_in_ram=False,
    ),
    notes=("Supervised FF embeds the label in the input and runs one inference pass per class.",),
))


def _pepita_training(forward_passes: int, memory: str) -> Phase:
    """Clean pass, modulated pass, local updates, output error and its projection onto the
    input; MEMPEPITA recomputes the clean activations with one more forward pass."""
    return Phase(terms=(Term("forward", forward_passes), Term("weight_update"), Term("error"), Term("projection"),
                        Term("feedback_generation"), Term("bias_gradient"),
                        Term("local_error", 1, "trained_before_logits"), *_APPLY),
                 memory=memory, params_in_ram=True)


register(Procedure(
    id="pepita",
    name="PEPITA",
    reference="Dellaferrera & Kreiman, 'Error-driven Input Modulation', ICML 2022",
    training=_pepita_training(2, "all_buffers"),  # sheet B39 = 2*W18 + R22 + W28 + B30
    inference=_INFERENCE,
    feedback="input",
))

register(Procedure(
    id="mempepita",
    name="MEMPEPITA",
    reference="Srinivasan et al., 'Forward Learning with Top-Down Feedback', arXiv 2302.05440, 2023",
    training=_pepita_training(3, "largest_pair_plus_larger"),  # sheet B42 = 3*W18 + R22 + W28 + B30
    inference=_INFERENCE,
    feedback="input",
))


# -- beyond the paper: the procedures researchers weigh for on-device learning -----------------------



def _lazy(module: str, name: str):
    """A schedule builder imported where it is first used (declarations stay light)."""
    def build(model, plan, sizes):
        import importlib

        return getattr(importlib.import_module(f"learncost.schedules.{module}"), name)(model, plan, sizes)

    build.__name__ = name
    return build


register(Procedure(
    id="bp-checkpoint",
    name="Backpropagation with gradient checkpointing",
    reference="Chen, Xu, Zhang & Guestrin, 'Training Deep Nets with Sublinear Memory Cost', arXiv 1604.06174, 2016",
    training=Phase(
        terms=(Term("forward"), Term("recompute"), Term("backward"), Term("weight_update"), Term("error"),
               Term("bias_gradient"), Term("gradient_sum"), *_APPLY),
        memory=None, params_in_ram=True),
    inference=_INFERENCE,
    step="Backpropagation keeping only checkpoints: the body is cut into segments (every checkpoint_every layers, "
         "the square root of its length by default); the forward pass keeps each segment's input and what the last "
         "segment's backward reads; in the backward pass each earlier segment an error reaches runs forward again "
         "from its checkpoint, keeping what its own backward reads, before the error goes back through it.",
    schedules={"training": _lazy("bp", "bp_checkpoint_training"), "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="fa",
    name="Feedback Alignment",
    reference="Lillicrap, Cownden, Tweed & Akerman, 'Random synaptic feedback weights support error "
              "backpropagation for deep learning', Nature Communications 2016",
    training=Phase(
        terms=(Term("forward"), Term("backward"), Term("weight_update"), Term("error"), Term("bias_gradient"),
               Term("gradient_sum"), Term("feedback_generation"), *_APPLY),
        memory="all_buffers", params_in_ram=True),
    inference=_INFERENCE,
    feedback="weights",
    step="Backpropagation's step with a fixed random matrix B_l in place of each W_l^T in the backward pass: "
         "the same forward, error, input-gradient and weight-gradient work, plus the B_l (held, in flash or "
         "regenerated, as the setup says).",
    schedules={"training": _lazy("direct", "fa_training"), "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="dfa",
    name="Direct Feedback Alignment",
    reference="Nokland, 'Direct Feedback Alignment Provides Learning in Deep Neural Networks', NeurIPS 2016",
    training=Phase(
        terms=(Term("forward"), Term("error"), Term("error_projection", 1, "trained_before_logits"),
               Term("weight_update"), Term("bias_gradient"), Term("feedback_generation"), *_APPLY),
        memory="all_buffers", params_in_ram=True),
    inference=_INFERENCE,
    feedback="outputs",
    step="A forward pass keeping what the updates read; the output error e; then each trained layer receives "
         "B_l e directly (B_l: its outputs x classes), applies its activation's derivative and updates. No "
         "sequential backward pass.",
    schedules={"training": _lazy("direct", "dfa_training"), "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="drtp",
    name="Direct Random Target Projection",
    reference="Frenkel, Lefebvre & Bol, 'Learning Without Feedback: Fixed Random Learning Signals Allow for "
              "Feedforward Training of Deep Neural Networks', Frontiers in Neuroscience 2021",
    training=Phase(
        terms=(Term("forward"), Term("error"), Term("target_projection", 1, "trained_before_logits"),
               Term("weight_update"), Term("bias_gradient"), Term("feedback_generation"), *_APPLY),
        memory="largest_pair", params_in_ram=True),
    inference=_INFERENCE,
    feedback="outputs",
    step="The target y*, known before the pass, projected through a fixed B_l onto each trained layer's output "
         "as soon as the layer has run; the layer updates at once from B_l y* times its activation's derivative. "
         "The last layer waits for the output error. Nothing is kept beyond the pair.",
    schedules={"training": _lazy("direct", "drtp_training"), "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="mezo",
    name="MeZO (zeroth-order SGD)",
    reference="Malladi, Gao, Nichani, Damian, Lee, Chen & Arora, 'Fine-Tuning Language Models with Just Forward "
              "Passes', NeurIPS 2023",
    training=Phase(
        # two forward passes and their losses per sample; per step, z regenerated at each of its four uses,
        # three perturbations (+eps z, -2 eps z, +eps z) and the update theta - eta g z
        terms=(Term("forward", 2), Term("error", 4), Term("perturbation", 3), Term("random_generation", 4),
               Term("gradient_estimate"), Term("optimizer", "applications")),
        # the loss reads the output, and an autoencoder's input (its target), kept through the pass
        memory=(("supervised", "largest_pair"), ("unsupervised", "largest_pair_plus_input")),
        params_in_ram=True, updates=1),
    inference=_INFERENCE,
    step="Perturb every trained parameter by +eps z (z ~ N(0, 1) from a seed), run the batch forward and take its "
         "loss; perturb by -2 eps z, the loss again; restore; then theta <- theta - eta g z with "
         "g = (L+ - L-) / (2 eps), z regenerated. No backward pass, nothing kept between layers: inference's "
         "memory plus the trained parameters (and the optimizer's state).",
    notes=("The loss counted is ||y - t||^2: the difference and its square summed, 2 MACC per output element "
           "(a cross-entropy reads the target's probability; either is negligible beside the passes).",),
    schedules={"training": _lazy("zeroth", "mezo_training"), "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="forward-gradient",
    name="Forward gradient",
    reference="Baydin, Pearlmutter, Syme, Wood & Torr, 'Gradients without Backpropagation', arXiv 2202.08587, 2022",
    training=Phase(
        # the forward pass, and beside it the tangent from the first trained layer on; the directional
        # derivative e . t (the output error and its dot with the logits' tangent); per step, v drawn for
        # each micro-batch's tangent and once more for the update theta - eta d v
        terms=(Term("forward"), Term("tangent"), Term("error", 2), Term("random_generation", "micro_batches"),
               Term("random_generation"), Term("gradient_estimate"), Term("optimizer", "applications")),
        memory=None, params_in_ram=True, updates=1),
    inference=_INFERENCE,
    step="Draw a direction v over the trained parameters from a seed; run the forward pass carrying, beside each "
         "activation from the first trained layer on, its tangent t = W t_in + v_W x + v_b (through the "
         "activation's derivative); at the logits take d = e . t (e = p - y); update theta <- theta - eta d v, "
         "v regenerated. One pass, no backward, nothing kept: about inference's memory plus a tangent per "
         "activation and the trained layer's v while it runs.",
    schedules={"training": _lazy("forward_gradient", "forward_gradient_training"),
               "inference": _lazy("inference", "plain_inference")},
))

register(Procedure(
    id="ff-readout",
    name="Forward-Forward with a one-pass readout",
    reference="Hinton, 'The Forward-Forward Algorithm', arXiv 2212.13345, 2022, section 3.3",
    training=Phase(
        # FF's positive and negative passes; a third pass with the neutral label (goodness, for the
        # normalization, and normalization as in every FF pass), the readout's logits accumulated from each
        # activity it reads, the error at them (softmax - target), its weight gradient and its update
        terms=(Term("forward", 3, "body"), Term("weight_update", 2), Term("goodness", 3),
               Term("normalization", 3, "body"), Term("bias_gradient", 2), Term("local_error", 2, "trained"),
               *_APPLY, Term("readout", 1, "readout"), Term("error"), Term("readout_gradient", 1, "readout"),
               Term("readout_step", 1, "readout"), Term("readout_accumulation", "readout_accumulations", "readout")),
        memory=None, params_in_ram=True),
    inference=Phase(
        # one pass with the neutral label; the readout's logits; their arg max (a classifier), or the
        # reconstruction's error scoring the sample (an autoencoder)
        terms=(Term("forward", 1, "body"), Term("goodness"), Term("normalization", 1, "body"),
               Term("readout", 1, "readout"), Term("error", "reconstruction_score")),
        memory=None, params_in_ram=False),
    readout=True,
    step="Forward-Forward's positive and negative passes, each layer updated on its own goodness; then one more "
         "pass with a neutral label (every label entry 1/classes), the activities of all but the first hidden "
         "layer (length-normalized, as passed on) feeding a linear readout W_r whose logits accumulate as each "
         "layer runs; softmax, e = p - y, dW_r = e h^T for each activity, kept until then, and W_r's update. "
         "Inference is that one neutral pass and the readout: one pass instead of one per class.",
    notes=("The readout is linear without a bias, trained by the setup's optimizer beside the layers; its "
           "weights (classes x the activities it reads) sit in RAM in training and in flash for inference, and "
           "take the weights' precision.",
           "An autoencoder has no labels: its neutral pass is the plain sample and the readout reconstructs the "
           "output (a linear decoder of the activities), its squared error scoring the sample at inference.",
           "The softmax's exponentials are not multiply-accumulates (as the executed convention books the head)."),
    schedules={"training": _lazy("ff", "ff_readout_training"), "inference": _lazy("ff", "ff_readout_inference")},
))
