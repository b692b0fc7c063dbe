"""Train on your own CSV file: numeric feature columns and a named target column.

    python examples/csv_classifier.py data.csv species

Without arguments it writes a small demo file (iris) to a temporary folder first."""
import sys
import tempfile
from pathlib import Path

import numpy as np

import scratchnet as sn

if len(sys.argv) == 3:
    path, target = sys.argv[1], sys.argv[2]
else:  # a demo file: iris with string labels
    X, y = sn.datasets.iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    path = Path(tempfile.mkdtemp()) / "iris.csv"
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join([*map(str, x), label]) for x, label in zip(X, names)]
    path.write_text("\n".join(rows) + "\n")
    target = "species"

X, y, features = sn.datasets.read_csv(path, target=target)
print(f"{len(X)} rows, features {features}, classes {sorted(set(y.tolist()))}")
model = sn.MLP(hidden=(32,), optimizer="adam", lr=0.01, scale=True, seed=0)
model.fit(X, y, epochs=100, batch_size=16, validation_split=0.2)
print(f"validation accuracy after {len(model.history['loss'])} epochs: "
      f"{model.history['val_accuracy'][-1]:.3f}")
print("first predictions:", model.predict(X[:5]))
