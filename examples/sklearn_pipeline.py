"""Grid search over a scratchnet MLPClassifier inside a scikit-learn Pipeline.

scratchnet.sklearn.MLPClassifier takes scikit-learn's own parameters, so this is
scikit-learn's usual recipe with one import changed. Runs in a few seconds:

    python examples/sklearn_pipeline.py
"""
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchnet.sklearn import MLPClassifier  # instead of sklearn.neural_network

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)

pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=500, random_state=0))
grid = GridSearchCV(pipe, {
    "mlpclassifier__hidden_layer_sizes": [(32,), (64,), (64, 32)],
    "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
}, cv=3, n_jobs=1)

start = time.perf_counter()
grid.fit(X_train, y_train)
print(f"grid search: {len(grid.cv_results_['params'])} settings x 3 folds "
      f"in {time.perf_counter() - start:.1f} s")
print("best parameters:", grid.best_params_)
print(f"cross-validated accuracy: {grid.best_score_:.4f}")
print(f"test accuracy:            {grid.score(X_test, y_test):.4f}")
