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
