"""Predicted exponents: the paper's table, and Quad-h as a function of its representation."""

import pytest

from hierlearn.experiments.analysis.predicted import predicted_for_learner
from hierlearn.theory import (
    RepresentationLaw,
    predicted_exponent,
    representation_law,
    span_degrees,
)


def law(activation, width_exponent, bias_std=0.0, p=4):
    widths = {d: round(d**width_exponent) for d in (8, 16, 32)}
    return representation_law(widths, activation, 1, bias_std, p)


def test_width_exponent_is_read_off_the_widths():
    assert law("relu", 2, 1.0).width_exponent == 2.0
    assert law("relu", 1.5, 1.0).width_exponent == 1.5
    # The growth law, not the local slope: d(d+1)/2 has slope 1.87 over d = 5 ... 10.
    he2 = representation_law({d: d * (d + 1) // 2 for d in (5, 6, 8, 10)}, "hermite-2", p=4)
    assert he2.width_exponent == 2.0
    assert predicted_exponent("quad-h", 4, he2) == 2.0
    assert representation_law({8: 64}, "relu") is None  # one d: no growth to read


@pytest.mark.parametrize("p, expected", [(1, None), (2, 2.0), (3, None), (4, 2.0), (5, None)])
def test_he2_features_reach_even_degrees_only(p, expected):
    assert predicted_exponent("quad-h", p, law("hermite-2", 2, p=p)) == expected


@pytest.mark.parametrize("p, expected", [(2, 2.0), (3, 2.0), (4, 2.0), (5, None)])
def test_random_relu_features_with_bias_reach_every_degree_up_to_their_width(p, expected):
    assert predicted_exponent("quad-h", p, law("relu", 2, 1.0, p=p)) == expected


def test_narrow_representation_is_not_covered_and_the_paper_default():
    # D ~ d features span degree <= 1: a quadratic form reaches degree 2, not 4.
    assert predicted_exponent("quad-h", 4, law("relu", 1, 1.0)) is None
    assert predicted_exponent("quad-h", 2, law("relu", 1, 1.0, p=2)) == 1.0
    assert predicted_exponent("quad-h", 4) == 2.0 and predicted_exponent("quad-h", 5) == 3.0
    # The other learners do not depend on the representation.
    for p in (2, 4):
        assert predicted_exponent("ntk-h", p, law("relu", 2, 1.0)) == p
        assert predicted_exponent("quad-x", p) == max(p - 1, 1)


def test_span_degrees_by_activation():
    assert span_degrees("hermite-2") == (0, 2)
    assert span_degrees("hermite-3") == (1, 3)
    assert span_degrees("hermite-2", bias_std=1.0) == (0, 1, 2)
    assert span_degrees("relu", bias_std=0.5) is None
    assert RepresentationLaw(2.0, (0, 2)).reachable(4)
    assert not RepresentationLaw(2.0, (0, 2)).reachable(3)


def test_predicted_for_learner_reads_the_cell_configs():
    configs = {
        d: {
            "kind": "random_network",
            "width": d * d,
            "activation": "hermite-2",
            "depth": 1,
            "bias_std": 0.0,
        }
        for d in (6, 8, 10)
    }
    assert predicted_for_learner("quad-h", 2, configs) == 2.0
    assert predicted_for_learner("quad-h", 3, configs) is None
    assert predicted_for_learner("quad-x", 4, {6: {"kind": "identity"}}) == 3.0


def test_no_quad_h_prediction_at_or_below_the_approximation_floor():
    law2 = law("relu", 2, 1.0)
    assert predicted_exponent("quad-h", 4, law2, eps=0.3, floor=0.1) == 2.0
    assert predicted_exponent("quad-h", 4, law2, eps=0.1, floor=0.1) is None
    assert predicted_exponent("quad-h", 4, eps=0.05, floor=0.1) is None
    # The floor is a property of h: learners on raw x or kernels keep their prediction.
    assert predicted_exponent("quad-x", 4, eps=0.05, floor=0.1) == 3.0
