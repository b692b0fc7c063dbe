import numpy as np
import pytest

import scratchnet as sn
from scratchnet import datasets


@pytest.mark.parametrize("name, n_classes", [("moons", 2), ("circles", 2), ("blobs", 3), ("spirals", 3)])
def test_generated_datasets_are_seeded(name, n_classes):
    X, y = datasets.load(name, n_samples=300, seed=4)
    X2, y2 = datasets.load(name, n_samples=300, seed=4)
    X3, _ = datasets.load(name, n_samples=300, seed=5)
    assert X.shape == (300, 2) and y.shape == (300,)
    assert len(np.unique(y)) == n_classes
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)


def test_generator_seed_is_accepted():
    X, _ = datasets.spirals(100, seed=np.random.default_rng(0))
    assert np.isfinite(X).all()


def test_spiral_arms_interleave():
    """Nearby points of the same radius belong to different arms: no linear split works."""
    X, y = datasets.spirals(900, n_classes=3, noise=0.0, seed=0)
    r = np.linalg.norm(X, axis=1)
    assert r.max() <= 1.0 and r.min() >= 0.05
    for k in range(3):  # every arm winds all the way round
        angles = np.arctan2(X[y == k, 1], X[y == k, 0])
        assert np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0].min() > 0


@pytest.mark.parametrize("loader, shape, n_classes", [(datasets.digits, (1797, 64), 10),
                                                      (datasets.iris, (150, 4), 3)])
def test_bundled_datasets(loader, shape, n_classes):
    X, y = loader()
    assert X.shape == shape and X.dtype == np.float64
    assert len(np.unique(y)) == n_classes


def test_unknown_dataset_lists_valid():
    with pytest.raises(ValueError, match="valid: blobs, circles, digits, iris, mnist1d, moons, spirals"):
        datasets.load("mnist")


def test_standardizer(rng):
    X = rng.standard_normal((50, 3)) * [1, 10, 0] + [5, -2, 7]  # last column constant
    s = datasets.Standardizer().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), [1, 1, 0], atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(Z), X, atol=1e-12)
    again = datasets.Standardizer.from_state(s.state())
    np.testing.assert_array_equal(again.transform(X), Z)
    with pytest.raises(ValueError, match="2 features.*trained with 3"):
        s.transform(X[:, :2])
    with pytest.raises(RuntimeError, match="not fitted"):
        datasets.Standardizer().transform(X)


def test_model_keeps_its_scaler(rng):
    X, y = datasets.iris()
    X = X * 1000  # badly scaled features
    model = sn.MLP(hidden=(16,), seed=0, scale=True).fit(X, y, epochs=30, batch_size=16)
    assert isinstance(model.scaler, datasets.Standardizer)
    np.testing.assert_allclose(model.scaler.mean_, X.mean(axis=0))
    assert model.evaluate(X, y)["accuracy"] > 0.9  # predict/evaluate scale the same way
    assert sn.MLP(hidden=(4,)).scaler is None


# -- CSV -----------------------------------------------------------------------------------
def write(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_read_csv(tmp_path):
    path = write(tmp_path, "a,b,species\n1,2.5,cat\n3,-4,dog\n\n5,6e1,cat\n")
    X, y, names = datasets.read_csv(path, target="species")
    np.testing.assert_array_equal(X, [[1, 2.5], [3, -4], [5, 60]])
    np.testing.assert_array_equal(y, ["cat", "dog", "cat"])
    assert names == ["a", "b"]
    X, y, _ = datasets.read_csv(path, target="a", features=["b"])
    assert X.shape == (3, 1) and y.dtype.kind == "i"


def test_read_csv_regression(tmp_path):
    X, y, _ = datasets.read_csv(write(tmp_path, "x,y\n1,0.5\n2,1.5\n"), target="y", regression=True)
    np.testing.assert_array_equal(y, [0.5, 1.5])


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b\n1,2\n", {"target": "label"}, r"has no column 'label'; its columns are: a, b"),
    ("a,b,y\n1,x,0\n", {"target": "y"}, r"line 2: column 'b' has the non-numeric value 'x'"),
    ("a,y\n1,0.5\n2,\n", {"target": "y", "regression": True}, r"line 3: the regression target 'y' is missing \(NaN\)"),
    ("a,y\n1,NaN\n", {"target": "y", "regression": True}, "NaN"),
    ("a,y\n,1\n", {"target": "y"}, "'a' .* missing"),
    ("a,y\n1,2,3\n", {"target": "y"}, "line 2 has 3 fields"),
    ("a,y\n", {"target": "y"}, "no data rows"),
    ("", {"target": "y"}, "empty"),
    ("a,y\n1,0\n", {"target": "y", "features": ["z"]}, r"lacks the feature column\(s\) z"),
])
def test_read_csv_errors(tmp_path, text, kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.read_csv(write(tmp_path, text), **kwargs)


def test_tutorial_moons_is_make_moons_split_as_the_tutorial_does():
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    X, y = make_moons(n_samples=5000, random_state=42, noise=0.1)
    for got, want in zip(datasets.tutorial_moons(), train_test_split(X, y, random_state=42)):
        np.testing.assert_array_equal(got, want)  # the shipped copy, bit for bit
        assert got.dtype == want.dtype


def test_random_state_is_scikit_learns_own_seed():
    from sklearn.datasets import make_blobs, make_circles, make_moons

    np.testing.assert_array_equal(datasets.moons(50, noise=0.2, random_state=3)[0],
                                  make_moons(50, noise=0.2, random_state=3)[0])
    np.testing.assert_array_equal(datasets.circles(50, random_state=3)[0],
                                  make_circles(50, noise=0.05, factor=0.5, random_state=3)[0])
    np.testing.assert_array_equal(datasets.blobs(50, centers=2, center_box=(-4, 4), random_state=3)[0],
                                  make_blobs(50, centers=2, center_box=(-4, 4), random_state=3)[0])
    with pytest.raises(ValueError, match="seed or random_state"):
        datasets.moons(10, seed=1, random_state=1)


@pytest.mark.parametrize("name, shape", [("moons", (3750, 2)), ("circles", (1500, 2)), ("spirals", (1500, 2)),
                                         ("digits", (1347, 64)), ("iris", (112, 4))])
def test_builtin_names_mean_fixed_rows(name, shape):
    X_train, X_test, y_train, y_test = datasets.builtin(name)
    assert X_train.shape == shape and len(y_train) == shape[0]
    again = datasets.builtin(name)
    np.testing.assert_array_equal(X_test, again[1])
    if name in ("circles", "spirals"):  # 2,000 rows of seed 42
        X, y = datasets.load(name, n_samples=2000, seed=42)
        assert len(X_train) + len(X_test) == 2000
        assert np.isin(X_test[:, 0], X[:, 0]).all()
    with pytest.raises(ValueError, match="unknown built-in dataset 'blobs'"):
        datasets.builtin("blobs")


def test_xor_and_surface():
    X, y = datasets.load("xor", n_samples=400, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(int))
    X, y = datasets.load("surface", n_samples=400, noise=0.0, seed=0)
    np.testing.assert_allclose(y, np.sin(np.pi * X[:, 0]) * np.cos(np.pi * X[:, 1] / 2))
