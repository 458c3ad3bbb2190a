"""Runs inside MLServer's venv: train the digits MLP exactly as examples/build_example.py
does for digits 1.0.0 (same data, split, hidden size, seed, sklearn version) and write an
MLServer model directory serving it with the scikit-learn runtime.

Training here rather than unpickling a model from the project's venv avoids pickles crossing
scikit-learn versions. Usage: python mlserver_model.py OUT_DIR
"""

import json
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

out = Path(sys.argv[1])
model_dir = out / "digits"
model_dir.mkdir(parents=True, exist_ok=True)
digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
x_train, x_test, y_train, y_test = train_test_split(
    x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)
model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(x_train, y_train)
joblib.dump(model, model_dir / "model.joblib")
(model_dir / "model-settings.json").write_text(
    json.dumps(
        {
            "name": "digits",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "1.0.0"},
        }
    )
)
print(json.dumps({"holdout_accuracy": float((model.predict(x_test) == y_test).mean())}))
