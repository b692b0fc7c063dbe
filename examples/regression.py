"""Regression: a linear output and mean squared error, with a GELU and a tanh
hidden layer, AdamW weight decay, and early stopping on a validation split.
The target is a smooth nonlinear function of 3 of 5 features, plus noise."""
import numpy as np

import scratchnet as sn

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (2000, 5))
y = np.sin(2 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] ** 2 + 0.1 * rng.standard_normal(2000)
X_train, X_test, y_train, y_test = X[:1500], X[1500:], y[:1500], y[1500:]

model = sn.MLP(hidden=(64, 32), activation=["gelu", "tanh"], loss="mse", optimizer="adamw",
               lr=3e-3, weight_decay=1e-3, scale=True, seed=0)
model.fit(X_train, y_train, epochs=300, batch_size=32, validation_split=0.2, early_stopping=20)
scores = model.evaluate(X_test, y_test)
print(f"stopped after {len(model.history['loss'])} epochs; "
      f"test MSE {scores['loss']:.4f} (noise variance 0.01), R^2 {scores['r2']:.3f}")
