"""Handwritten digits with a 64-128-10 network: Adam, a cosine learning-rate
decay, and early stopping on a validation split that keeps the best epoch."""
from sklearn.model_selection import train_test_split

import scratchnet as sn
from scratchnet.callbacks import LearningRateScheduler
from scratchnet.optimizers import CosineDecay

X, y = sn.datasets.digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

model = sn.MLP(hidden=(128,), optimizer="adam", lr=1e-3, scale=True, seed=0)
model.fit(X_train, y_train, epochs=60, batch_size=32, validation_split=0.1,
          early_stopping=sn.EarlyStopping(patience=10),
          callbacks=[LearningRateScheduler(CosineDecay(60))])
print(model.summary())
print(f"epochs run: {len(model.history['loss'])}, "
      f"best validation loss {min(model.history['val_loss']):.4f}")
print(f"test accuracy: {model.evaluate(X_test, y_test)['accuracy']:.4f}")
