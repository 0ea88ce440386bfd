import functools

import numpy as np
import pytest
import torch

from age_lightning.ages import MAX_AGE
from age_lightning.errors import UserError
from age_lightning.model.module import AgeRegressor
from age_lightning.model.schedules import warmup_cosine


def make_model(**kwargs):
    optimizer = functools.partial(torch.optim.Adam, lr=1e-3)
    return AgeRegressor(optimizer=optimizer, weights=None, **kwargs)


def test_forward_returns_one_value_per_image_in_years():
    model = make_model().eval()
    model.age_mean.fill_(40.0)
    model.age_std.fill_(10.0)
    ages, log_scale = model(torch.randn(3, 3, 32, 32))
    assert ages.shape == (3,) and log_scale is None
    model.head[1].weight.data.zero_()
    model.head[1].bias.data.fill_(0.5)  # normalized 0.5 -> 40 + 0.5 * 10 years
    assert torch.allclose(model.predict_age(torch.randn(3, 3, 32, 32)), torch.tensor(45.0))
    model.head[1].bias.data.fill_(1e6)
    assert torch.all(model.predict_age(torch.randn(2, 3, 32, 32)) == MAX_AGE)


@pytest.mark.parametrize("head", ["point", "laplace"])
def test_outside_training_a_photo_and_its_mirror_image_get_one_answer(head):
    """flip_average: the answer is the mean over the image and its mirror image (so the same for both), each
    image scored alone as in training; training itself sees only the image."""
    model = make_model(head=head).eval()
    images = torch.randn(3, 3, 32, 32)
    mirrored = [model.predict(images.flip(-1)), model.predict(images)]
    for flipped, own in zip(*mirrored):
        torch.testing.assert_close(flipped, own)
    plain = make_model(head=head, flip_average=False).eval()
    plain.load_state_dict(model.state_dict())
    alone, mirror = plain(images), plain(images.flip(-1))
    assert not torch.allclose(alone[0], mirror[0])  # a random model is not symmetric by itself
    torch.testing.assert_close(model(images)[0], (alone[0] + mirror[0]) / 2)
    if head != "point":
        torch.testing.assert_close(model(images)[1], (alone[1] + mirror[1]) / 2)
    model.train()
    torch.testing.assert_close(model(images)[0], plain.train()(images)[0])


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_training_step_loss_is_finite_and_backpropagates(loss):
    model = make_model(loss=loss)
    out = model._step((torch.randn(4, 3, 32, 32), torch.tensor([10.0, 20.0, 30.0, 40.0])))[0]
    out.backward()
    assert torch.isfinite(out) and model.head[1].weight.grad is not None


def test_unknown_loss_is_refused():
    with pytest.raises(UserError, match="model.loss"):
        make_model(loss="huber2")


def test_backbone_lr_multiplier_and_freezing():
    groups = make_model(backbone_lr_mult=0.1).configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    frozen = make_model(freeze_backbone=True).configure_optimizers().param_groups
    assert len(frozen) == 1 and len(frozen[0]["params"]) == 2  # the head's weight and bias


def test_warmup_cosine_schedule_shape():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = warmup_cosine(optimizer, total_steps=100, warmup_fraction=0.1, min_lr_ratio=0.0)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5, abs=0.02) and lrs[-1] < 0.01


def test_uncertain_head_gives_a_scale_in_years_and_keeps_the_point_loss():
    model = make_model(head="laplace").eval()
    model.age_mean.fill_(40.0)
    model.age_std.fill_(10.0)
    model.head[1].weight.data.zero_()
    model.head[1].bias.data.copy_(torch.tensor([0.5, float(np.log(0.3))]))  # age 45, scale 0.3 * 10 years
    ages, scales = model.predict(torch.randn(2, 3, 32, 32))
    assert torch.allclose(ages, torch.tensor(45.0)) and torch.allclose(scales, torch.tensor(3.0))
    # the age output and the backbone get exactly the point loss's gradients: the likelihood sees them detached
    model.train()
    images, target = torch.randn(4, 3, 32, 32), torch.tensor([20.0, 30.0, 50.0, 70.0])
    model.head[1].weight.data.normal_(0, 0.01)
    point = make_model().train()
    point.load_state_dict({k: (v[:1] if k.startswith("head.1") else v) for k, v in model.state_dict().items()})
    uncertain_grads = torch.autograd.grad(
        model._step((images, target))[0], [model.head[1].bias, model.backbone.conv1.weight]
    )
    point_grads = torch.autograd.grad(
        point._step((images, target))[0], [point.head[1].bias, point.backbone.conv1.weight]
    )
    assert torch.allclose(uncertain_grads[0][0], point_grads[0][0], atol=1e-6)
    assert torch.allclose(uncertain_grads[1], point_grads[1], atol=1e-6)
    assert uncertain_grads[0][1] != 0  # while the scale does learn


def test_the_decision_term_pushes_a_wrong_side_estimate_across_the_decision_age():
    """model.decision_ages: a 16-year-old estimated 24 and a 30-year-old estimated 20 each pay a cross-entropy that
    pulls their estimate towards their own side of 18 and 25; estimates far on the right side cost nearly nothing."""
    model = make_model(decision_ages=[18, 25], decision_weight=1.0, decision_temperature=2.0)
    estimates = torch.tensor([24.0, 20.0, 60.0, 5.0], requires_grad=True)
    ages = torch.tensor([16.0, 30.0, 61.0, 4.0])
    model._decision_loss(estimates, ages).backward()
    assert estimates.grad[0] > 0 and estimates.grad[1] < 0  # gradient descent lowers the first, raises the second
    assert estimates.grad[2:].abs().max() < 1e-3
    assert make_model()._decision_loss(estimates, ages) == 0.0  # off by default
    with pytest.raises(UserError, match="decision_temperature"):
        make_model(decision_ages=[18], decision_weight=1.0, decision_temperature=0.0)
