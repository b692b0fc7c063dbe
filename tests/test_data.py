import numpy as np
import pytest

from scratchnet.data import LabelEncoder, batches, check_X, one_hot, tutorial_moons


def test_tutorial_moons_rows():
    """The rows the tutorial prints: X[0:5] of make_moons and y_train[:5]."""
    from sklearn.datasets import make_moons

    X, _ = make_moons(n_samples=5000, random_state=42, noise=0.1)
    np.testing.assert_allclose(X[:5], [[-0.1196884, 1.03684845], [0.03370055, 0.2493631],
                                       [0.03864294, 0.33033539], [0.22222051, 1.03355193],
                                       [0.74448612, 0.69288687]], atol=5e-9)
    X_train, X_test, y_train, y_test = tutorial_moons()
    assert X_train.shape == (3750, 2) and X_test.shape == (1250, 2)
    np.testing.assert_array_equal(y_train[:5], [0, 1, 0, 1, 0])


def test_one_hot_matches_tutorial():
    np.testing.assert_array_equal(one_hot(np.array([0, 1, 0, 1, 0]), 2),
                                  [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0]])


def test_one_hot_many_classes_and_leading_axes():
    idx = np.array([[3, 0], [1, 2]])
    Y = one_hot(idx, 4)
    assert Y.shape == (2, 2, 4)
    np.testing.assert_array_equal(Y.argmax(axis=-1), idx)
    with pytest.raises(ValueError, match="class indices"):
        one_hot(np.array([4]), 4)


@pytest.mark.parametrize("labels", [["cat", "dog", "cat", "emu"], [10, -3, 10, 7], [0.5, 1.5, 0.5, 2.5]])
def test_label_encoder_round_trip(labels):
    enc = LabelEncoder().fit(labels)
    idx = enc.transform(labels)
    assert idx.min() == 0 and idx.max() == 2
    np.testing.assert_array_equal(enc.inverse_transform(idx), labels)
    np.testing.assert_array_equal(enc.inverse_transform(one_hot(idx, 3).argmax(axis=1)), labels)


def test_label_encoder_unknown_label():
    enc = LabelEncoder().fit(["a", "b"])
    with pytest.raises(ValueError, match="never seen.*'c'"):
        enc.transform(["a", "c"])


def test_label_encoder_rejects_nan_and_2d():
    with pytest.raises(ValueError, match="NaN"):
        LabelEncoder().fit([0.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        LabelEncoder().fit(np.zeros((3, 2)))


def test_batches_cover_every_row_once_and_shuffle_per_epoch():
    rng = np.random.default_rng(0)
    epoch1 = list(batches(23, 5, rng))
    epoch2 = list(batches(23, 5, rng))
    assert [len(b) for b in epoch1] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.sort(np.concatenate(epoch1)), np.arange(23))
    assert not np.array_equal(np.concatenate(epoch1), np.concatenate(epoch2))
    again = np.random.default_rng(0)
    np.testing.assert_array_equal(np.concatenate(list(batches(23, 5, again))), np.concatenate(epoch1))


@pytest.mark.parametrize("X, match", [
    (np.zeros((0, 2)), "empty"),
    (np.zeros((3, 0)), "zero features"),
    (np.zeros((2, 2, 2)), "2-D"),
    (np.zeros(4), "2-D"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "inf"),
    (np.array([["a", "b"]]), "non-numeric"),
])
def test_check_X_rejects(X, match):
    with pytest.raises(ValueError, match=match):
        check_X(X)


def test_check_X_feature_count_and_dtype():
    with pytest.raises(ValueError, match="3 features.*trained with 2"):
        check_X(np.zeros((1, 3)), n_features=2)
    assert check_X([[1, 2]], dtype=np.float32).dtype == np.float32
