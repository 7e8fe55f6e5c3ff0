"""The objective's terms are one named list: a term added in one place is computed, weighted and summed into the
total; the class-score term is the trainer's former auxiliary loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.objective import ObjectiveTerms, SaliencyObjective, Term, TermInputs, register_term, term_names
from blackbox_saliency.objective import terms as terms_module


class CountingNet(BlackBoxClassifier):
    def __init__(self) -> None:
        torch.manual_seed(1)
        super().__init__(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd"))
        self.seen: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(int(images.shape[0]))
        return super().forward(images)


def _batch(size: int = 4, seed: int = 0, **extra) -> TermInputs:
    g = torch.Generator().manual_seed(seed)
    images, masks = torch.rand(size, 3, 8, 8, generator=g), torch.rand(size, 1, 4, 4, generator=g)
    classes, alternative = torch.randint(0, 4, (size,), generator=g), torch.rand(size, 3, 8, 8, generator=g)
    return TermInputs(images, masks, classes, alternative=alternative, **extra)


def _squared_area(objective, batch: TermInputs) -> torch.Tensor:
    return batch.masks.flatten(1).mean(1) ** 2


def test_the_registered_terms_are_the_logged_names():
    assert term_names() == ObjectiveTerms.names() == ("tv", "area", "preserve", "destroy", "crop", "aux")
    assert SaliencyObjective(CountingNet()).names == ObjectiveTerms.names()


def test_a_term_registered_in_one_place_is_weighted_and_summed_into_the_total(monkeypatch):
    net = CountingNet()
    before = SaliencyObjective(net).evaluate(_batch())
    monkeypatch.setattr(terms_module, "TERMS", list(terms_module.TERMS))  # the registry is restored afterwards
    register_term(Term("squared_area", _squared_area, weight="squared_area_coef", default_weight=0.5, on_fake=True))
    assert term_names()[-1] == "squared_area" and ObjectiveTerms.names()[-1] == "squared_area"

    batch = _batch(fake=torch.tensor([True, False, True, False]))
    expected = batch.masks.flatten(1).mean(1) ** 2
    for objective, weight in ((SaliencyObjective(net), 0.5), (SaliencyObjective(net, squared_area_coef=3.0), 3.0)):
        assert objective.names[-1] == "squared_area" and objective.weights["squared_area"] == weight
        terms = objective.evaluate(_batch(fake=torch.tensor([True, False, True, False])))
        torch.testing.assert_close(terms.squared_area, weight * expected)  # fake selectors too: on_fake=True
        torch.testing.assert_close(terms.total, sum(terms[name] for name in objective.names))
    # the terms that were there before are unchanged (same batch, all real)
    after = SaliencyObjective(net).evaluate(_batch())
    for name in before:
        torch.testing.assert_close(after[name], before[name])
    torch.testing.assert_close(after.total, before.total + 0.5 * _batch().masks.flatten(1).mean(1) ** 2)
    assert "squared_area" not in SaliencyObjective(net, terms=terms_module.TERMS[:-1]).names


def test_a_term_of_real_selectors_can_share_the_black_box_call():
    """A new term that reads the preserved image's logits costs no black-box call of its own."""
    net = CountingNet()
    kept_logit = Term("kept_logit", lambda objective, batch: batch.class_logits("preserved").amax(dim=1),
                      shows=lambda objective, batch: {"preserved": batch.blends[0]})
    objective = SaliencyObjective(net, terms=(*terms_module.TERMS, kept_logit))
    fake = torch.tensor([False, True, False, False])
    net.seen.clear()
    terms = objective.evaluate(_batch(fake=fake))
    assert net.seen == [2 * 3]  # the preserved and destroyed images of the 3 real selectors, once
    assert terms.kept_logit[1] == 0 and bool((terms.kept_logit[~fake] != 0).all())


def test_the_class_score_term_is_the_former_auxiliary_loss():
    net = CountingNet()
    scores = torch.tensor([2.0, -1.0, 0.5, 3.0], requires_grad=True)
    fake = torch.tensor([True, False, False, True])
    objective = SaliencyObjective(net, aux_coef=0.7)
    terms = objective.evaluate(_batch(fake=fake, class_scores=scores))
    former = 0.7 * F.binary_cross_entropy_with_logits(scores, (~fake).float())  # what the trainer added to the loss
    torch.testing.assert_close(terms.aux.mean(), former)
    without = objective.evaluate(_batch(fake=fake))
    assert bool((without.aux == 0).all())
    torch.testing.assert_close(terms.total - terms.aux, without.total)
    (grad,) = torch.autograd.grad(terms.total.mean(), scores)
    torch.testing.assert_close(grad, torch.autograd.grad(former, scores)[0])
    # an all-fake batch: the black box sees nothing, the class scores are still pushed down
    net.seen.clear()
    all_fake = objective.evaluate(_batch(fake=torch.ones(4, dtype=torch.bool), class_scores=scores.detach()))
    assert net.seen == [] and bool((all_fake.aux > 0).all())
    torch.testing.assert_close(all_fake.total, all_fake.area + all_fake.aux)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Term("total", _squared_area), "other than 'total'"),
        (lambda: Term("two words", _squared_area), "identifier"),
        (lambda: Term("x", _squared_area, on_fake=True, shows=lambda o, b: {}),
         "fake selectors' images never reach it"),
        (lambda: register_term(Term("tv", _squared_area)), "registered already"),
        (lambda: SaliencyObjective(CountingNet(), tv_coeff=2.0), r"unknown objective setting\(s\) \['tv_coeff'\]"),
        (lambda: SaliencyObjective(CountingNet(), terms=(Term("a", _squared_area), Term("a", _squared_area))),
         "distinct"),
        (lambda: SaliencyObjective(CountingNet()).evaluate(_batch(class_scores=torch.zeros(3))), "`class_scores`"),
    ],
)
def test_bad_terms_and_settings_are_named(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_objective_terms_read_by_name():
    terms = ObjectiveTerms({"tv": torch.tensor([1.0])}, torch.tensor([1.0]))
    assert terms.tv is terms["tv"] and list(terms) == ["tv"]
    with pytest.raises(AttributeError, match="no term 'area'"):
        terms.area  # noqa: B018
