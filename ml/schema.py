"""Layout of the ``ml`` schema: the model registry and everything a training run writes.

One module owns the DDL so the writer (``ml.io``), the dbt sources that read these tables
(``models_sql/models/forecasts``) and the tests agree on one layout. Every table carries the
``run_id`` of the training run that wrote it; a run is written in one transaction and re-running
the same run id replaces its rows.

Grain of each table
-------------------
``ml.model_registry``
    One row per training run (``run_id``). ``is_current`` marks the run of each
    (model_name, underlying_symbol) that readers use: the last one written.
``ml.predictions``
    One row per run × underlying × contract (NULL for underlying models) × as_of_date. Only
    out-of-sample rows: ``train_label_end_date < as_of_date`` always holds.
``ml.model_metrics``
    One row per run × fold (0 = all walk-forward folds pooled) × predictor (``model`` or a naive
    baseline) × metric.
``ml.feature_importance``
    One row per run × importance type × feature, for the run's final model.
``ml.prediction_contributions``
    One row per prediction × feature (plus ``__bias__``): the additive contribution of the feature
    to the prediction's margin (XGBoost ``pred_contribs``, SHAP values; for logistic regression
    the coefficient times the standardised value). Multiclass rows explain the predicted class.
``ml.feature_drift``
    One row per run × feature: population stability index between the final model's training
    window and the latest window of the data.
"""

from __future__ import annotations

SCHEMA = "ml"

FAMILIES: tuple[str, ...] = ("direction", "iv_regime", "option_return")
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
PREDICTION_KINDS: tuple[str, ...] = ("walk_forward", "live")
PREDICTORS: tuple[str, ...] = ("model", "majority", "persistence", "train_mean")

DDL = f"""
create schema if not exists {SCHEMA};

create table if not exists {SCHEMA}.model_registry (
    run_id varchar primary key,                -- sha256(model_version, data_fingerprint)[:16]
    model_name varchar not null,               -- e.g. xgb_direction_5d
    model_version varchar not null,            -- model_name-sha256(config, libraries)[:12]
    family varchar not null check (family in {FAMILIES}),
    task varchar not null check (task in {TASKS}),
    estimator varchar not null check (estimator in ('xgboost', 'logistic_regression')),
    underlying_symbol varchar not null,
    horizon_days integer not null,             -- trading sessions of the label window
    n_splits integer not null,                 -- walk-forward folds
    embargo_days integer not null,             -- purge gap between train and test, sessions
    params_json varchar not null,              -- estimator keyword arguments
    config_json varchar not null,              -- the full model config
    candidate_features_json varchar not null,  -- feature columns offered to the selection
    selected_features_json varchar not null,   -- top-N by mutual information, final model
    class_labels_json varchar not null,        -- class order of probabilities ('[]': regression)
    decision_threshold double,                 -- binary tasks: probability cut, tuned in-fold
    train_start_date date not null,            -- final model's training window (as-of dates)
    train_end_date date not null,
    train_label_end_date date not null,        -- last date any training label looks at
    n_train_rows bigint not null,
    test_start_date date not null,             -- first and last walk-forward test as-of dates
    test_end_date date not null,
    data_fingerprint varchar not null,         -- sha256 of the dataset (features + labels) read
    folds_json varchar not null,               -- per fold: windows, rows, threshold, features
    model_file varchar not null,               -- file name under the models directory
    model_format varchar not null check (model_format in ('ubj', 'json')),
    model_sha256 varchar not null,             -- checked before every load
    library_versions_json varchar not null,
    is_current boolean not null
);

create table if not exists {SCHEMA}.predictions (
    run_id varchar not null,
    model_name varchar not null,
    model_version varchar not null,
    family varchar not null,
    task varchar not null,
    underlying_symbol varchar not null,
    contract_symbol varchar,                   -- OCC symbol for option models, NULL otherwise
    as_of_date date not null,                  -- features known at this date's close
    horizon_days integer not null,
    prediction_kind varchar not null check (prediction_kind in {PREDICTION_KINDS}),
    fold_id integer,                           -- walk-forward fold; NULL for live predictions
    train_start_date date not null,            -- window of the model that made the prediction
    train_end_date date not null,
    train_label_end_date date not null,
    score double not null,                     -- ranking value: p_up, yhat or regime probability
    predicted_label varchar not null,          -- UP/DOWN, or LOW/NORMAL/HIGH
    decision_threshold double,                 -- p_up cut that gave predicted_label (binary)
    p_up double,                               -- P(up move) for binary tasks
    yhat double,                               -- regression: forward mid return, decimal
    regime varchar,                            -- iv_regime model: predicted regime
    prob_low double,                           -- iv_regime model: class probabilities
    prob_normal double,
    prob_high double,
    check (train_label_end_date < as_of_date)
);

create table if not exists {SCHEMA}.model_metrics (
    run_id varchar not null,
    fold_id integer not null,                  -- 0 = all walk-forward test rows pooled
    predictor varchar not null check (predictor in {PREDICTORS}),
    metric varchar not null,
    value double,                              -- NaN-free: NULL where undefined
    n_rows bigint not null,
    primary key (run_id, fold_id, predictor, metric)
);

create table if not exists {SCHEMA}.feature_importance (
    run_id varchar not null,
    importance_type varchar not null,          -- gain | abs_coefficient | mutual_information
    feature varchar not null,
    importance double not null,
    importance_rank integer not null,          -- 1 = most important
    primary key (run_id, importance_type, feature)
);

create table if not exists {SCHEMA}.prediction_contributions (
    run_id varchar not null,
    underlying_symbol varchar not null,
    contract_symbol varchar,
    as_of_date date not null,
    class_label varchar,                       -- explained class (multiclass), else NULL
    feature varchar not null,                  -- '__bias__' for the intercept
    contribution double not null               -- margin (log-odds / raw) units
);

create table if not exists {SCHEMA}.feature_drift (
    run_id varchar not null,
    feature varchar not null,
    reference_start_date date not null,        -- the final model's training window
    reference_end_date date not null,
    current_start_date date not null,          -- the latest window
    current_end_date date not null,
    n_reference bigint not null,
    n_current bigint not null,
    psi double,                                -- NULL when either window has no value
    drift_level varchar,                       -- none < 0.10 <= moderate < 0.25 <= significant
    primary key (run_id, feature)
);
"""

TABLES: tuple[str, ...] = (
    "model_registry",
    "predictions",
    "model_metrics",
    "feature_importance",
    "prediction_contributions",
    "feature_drift",
)
