"""MNIST-1D with both presets: an MLP and a small CNN, each trained on the 4,000
training sequences and scored on the 1,000 test sequences; then a few test sequences
plotted with their true and predicted labels (mnist1d_predictions.png).

    python examples/mnist1d_presets.py               # the presets' full recipes (a few minutes)
    python examples/mnist1d_presets.py --epochs 10   # a quick look
"""
import argparse


import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scratchnet import datasets, presets  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, help="override the presets' epochs")
args = parser.parse_args()

X, y = datasets.load("mnist1d")  # generated once, then read from ~/.cache/scratchnet
n = datasets.MNIST1D_TRAIN
X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]

models = {}
for name in ("mnist1d-mlp", "mnist1d-cnn"):
    settings = presets.get(name)
    if args.epochs:
        settings["epochs"] = args.epochs
    model, fit = presets.build(settings, seed=0)  # the model, and epochs, batch size,
    model.fit(X_train, y_train, **fit)            # cosine schedule and random shifts
    models[name] = model
    print(f"{name}: test accuracy {model.evaluate(X_test, y_test)['accuracy']:.4f}")
print(models["mnist1d-cnn"].summary())

rows = range(8)
predictions = {name: model.predict(X_test[:8]) for name, model in models.items()}
fig, axes = plt.subplots(2, 4, figsize=(12, 5), sharex=True)
for i, ax in zip(rows, axes.flat):
    ax.plot(X_test[i], color="black", linewidth=1.2)
    ax.set_title(f"label {y_test[i]}: MLP {predictions['mnist1d-mlp'][i]}, "
                 f"CNN {predictions['mnist1d-cnn'][i]}", fontsize=9)
    ax.set_yticks([])
fig.suptitle("MNIST-1D test sequences, true and predicted labels")
fig.tight_layout()
fig.savefig("mnist1d_predictions.png", dpi=100)
print("wrote mnist1d_predictions.png")
