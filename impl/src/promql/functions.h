/* functions.h — the PromQL function table: names and signatures.
 *
 * The parser checks calls against the signature; the engine dispatches on
 * the id. Range-vector kernels live in functions_range.h. */
#ifndef PL_PROMQL_FUNCTIONS_H
#define PL_PROMQL_FUNCTIONS_H

#include <stddef.h>

#include "promql/ast.h"

enum promql_func_id {
    FN_ABS,
    FN_ABSENT,
    FN_ABSENT_OVER_TIME,
    FN_ACOS,
    FN_ACOSH,
    FN_ASIN,
    FN_ASINH,
    FN_ATAN,
    FN_ATANH,
    FN_AVG_OVER_TIME,
    FN_CEIL,
    FN_CHANGES,
    FN_CLAMP,
    FN_CLAMP_MAX,
    FN_CLAMP_MIN,
    FN_COS,
    FN_COSH,
    FN_COUNT_OVER_TIME,
    FN_DAYS_IN_MONTH,
    FN_DAY_OF_MONTH,
    FN_DAY_OF_WEEK,
    FN_DAY_OF_YEAR,
    FN_DEG,
    FN_DELTA,
    FN_DERIV,
    FN_EXP,
    FN_FLOOR,
    FN_HISTOGRAM_QUANTILE,
    FN_HISTOGRAM_FRACTION,
    FN_DOUBLE_EXPONENTIAL_SMOOTHING,
    FN_HOUR,
    FN_IDELTA,
    FN_INCREASE,
    FN_IRATE,
    FN_LABEL_REPLACE,
    FN_LABEL_JOIN,
    FN_LAST_OVER_TIME,
    FN_FIRST_OVER_TIME,
    FN_LN,
    FN_LOG10,
    FN_LOG2,
    FN_MAD_OVER_TIME,
    FN_MAX_OVER_TIME,
    FN_MIN_OVER_TIME,
    FN_MINUTE,
    FN_MONTH,
    FN_PI,
    FN_PREDICT_LINEAR,
    FN_PRESENT_OVER_TIME,
    FN_QUANTILE_OVER_TIME,
    FN_RAD,
    FN_RATE,
    FN_RESETS,
    FN_ROUND,
    FN_SCALAR,
    FN_SGN,
    FN_SIN,
    FN_SINH,
    FN_SORT,
    FN_SORT_DESC,
    FN_SORT_BY_LABEL,
    FN_SORT_BY_LABEL_DESC,
    FN_SQRT,
    FN_STDDEV_OVER_TIME,
    FN_STDVAR_OVER_TIME,
    FN_SUM_OVER_TIME,
    FN_TAN,
    FN_TANH,
    FN_TIME,
    FN_TIMESTAMP,
    FN_VECTOR,
    FN_YEAR,
    FN_TS_OF_MIN_OVER_TIME,
    FN_TS_OF_MAX_OVER_TIME,
    FN_TS_OF_LAST_OVER_TIME,
    FN_TS_OF_FIRST_OVER_TIME,
    FN_HISTOGRAM_COUNT,
    FN_HISTOGRAM_SUM,
    FN_HISTOGRAM_AVG,
    FN_HISTOGRAM_STDDEV,
    FN_HISTOGRAM_STDVAR,
    FN_HISTOGRAM_QUANTILES,
    FN_STEP,
    FN_RANGE,
    FN_START,
    FN_END,
    FN_MIN_OF,
    FN_MAX_OF,
};

struct promql_function {
    const char *name;
    enum promql_func_id id;
    enum promql_type args[5];
    int nargs;    /* declared argument types */
    int variadic; /* 0: exactly nargs; >0: up to that many trailing optional args; -1: unlimited repeats of the last */
    enum promql_type ret;
};

const promql_function_t *promql_function_lookup(const char *name, size_t n);

#endif
