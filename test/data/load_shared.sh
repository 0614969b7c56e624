#!/usr/bin/env bash
# Loads the public data sets of ../shared/data into schema shared_data of the test database,
# for the pgTAP suites that use them (they skip, saying so, when a table is absent).
# Usage: load_shared.sh DBNAME DATADIR
#
# The files are read by psql on the client side (\copy), so the server, which runs as
# another OS user, never needs access to DATADIR. A file that does not exist is skipped
# with a note and its table is simply not created; a file whose header is not the one
# expected is an error (the tests' reference figures would no longer apply).
#
# Tables:
#   shared_data.bank_churn   churn/Churn_Modelling.csv (10,000 rows; comma separated,
#                            header line, LF line endings, no quoting)
#   shared_data.telco_churn  churn/Telco-Customer-Churn.csv (7,043 rows; comma separated,
#                            header line, LF line endings, no quoting). Columns in
#                            snake_case; TotalCharges is a single space in 11 rows
#                            (tenure 0): loaded as NULL (NULL ' ', so only that exact
#                            unquoted field is NULL; every other column is NOT NULL).
#   shared_data.cdnow        cdnow/CDNOW_sample.txt (6,919 purchases of 2,357 customers;
#                            whitespace separated, CRLF, no header: master_id sample_id
#                            YYYYMMDD n_cds dollars). customer_id is the sample id, as in
#                            the literature; reshaped to CSV by awk before \copy.
#   shared_data.cdnow_master cdnow/CDNOW_master.txt (69,659 purchases of 23,570 customers,
#                            the whole cohort; a header line, whitespace separated with
#                            leading blanks, CRLF: customer_id YYYYMMDD n_cds dollars).
#                            Its repeat customers include one whose repeat purchases are
#                            all $0 (a monetary value of 0).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 DBNAME DATADIR" >&2
    exit 2
fi
db=$1 dir=$2

# A path as a single-quoted psql \copy file name ('' stands for ').
sql_path() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# First line of a file without a trailing CR.
header_of() { head -n 1 "$1" | tr -d '\r'; }

script=$(mktemp)
trap 'rm -f "$script"' EXIT
loaded=()

cat >"$script" <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS shared_data CASCADE;
CREATE SCHEMA shared_data;
SQL

# --- bank churn -------------------------------------------------------------------------
churn=$dir/churn/Churn_Modelling.csv
churn_header='RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited'
if [ -f "$churn" ]; then
    got=$(header_of "$churn")
    if [ "$got" != "$churn_header" ]; then
        echo "$churn: unexpected header" >&2
        echo "  expected: $churn_header" >&2
        echo "  found:    $got" >&2
        exit 1
    fi
    cat >>"$script" <<SQL
CREATE TABLE shared_data.bank_churn (
    row_number       int NOT NULL,
    customer_id      bigint PRIMARY KEY,
    surname          text NOT NULL,
    credit_score     int NOT NULL,
    geography        text NOT NULL,
    gender           text NOT NULL,
    age              int NOT NULL,
    tenure           int NOT NULL,
    balance          float8 NOT NULL,
    num_of_products  int NOT NULL,
    has_cr_card      int NOT NULL,
    is_active_member int NOT NULL,
    estimated_salary float8 NOT NULL,
    exited           int NOT NULL
);
COMMENT ON TABLE shared_data.bank_churn IS
    'Bank customer churn (public Kaggle data set, Churn_Modelling.csv), loaded by test/data/load_shared.sh';
\\copy shared_data.bank_churn (row_number, customer_id, surname, credit_score, geography, gender, age, tenure, balance, num_of_products, has_cr_card, is_active_member, estimated_salary, exited) FROM $(sql_path "$churn") WITH (FORMAT csv, HEADER true)
ANALYZE shared_data.bank_churn;
SQL
    loaded+=("bank_churn")
else
    echo "skipping shared_data.bank_churn: $churn not found"
fi

# --- telco churn ------------------------------------------------------------------------
telco=$dir/churn/Telco-Customer-Churn.csv
telco_header='customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn'
if [ -f "$telco" ]; then
    got=$(header_of "$telco")
    if [ "$got" != "$telco_header" ]; then
        echo "$telco: unexpected header" >&2
        echo "  expected: $telco_header" >&2
        echo "  found:    $got" >&2
        exit 1
    fi
    cat >>"$script" <<SQL
CREATE TABLE shared_data.telco_churn (
    customer_id       text PRIMARY KEY,
    gender            text NOT NULL,
    senior_citizen    int NOT NULL,
    partner           text NOT NULL,
    dependents        text NOT NULL,
    tenure            int NOT NULL,
    phone_service     text NOT NULL,
    multiple_lines    text NOT NULL,
    internet_service  text NOT NULL,
    online_security   text NOT NULL,
    online_backup     text NOT NULL,
    device_protection text NOT NULL,
    tech_support      text NOT NULL,
    streaming_tv      text NOT NULL,
    streaming_movies  text NOT NULL,
    contract          text NOT NULL,
    paperless_billing text NOT NULL,
    payment_method    text NOT NULL,
    monthly_charges   float8 NOT NULL,
    total_charges     float8,
    churn             text NOT NULL
);
COMMENT ON TABLE shared_data.telco_churn IS
    'IBM Telco customer churn (public sample data, Telco-Customer-Churn.csv), loaded by test/data/load_shared.sh';
\\copy shared_data.telco_churn (customer_id, gender, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines, internet_service, online_security, online_backup, device_protection, tech_support, streaming_tv, streaming_movies, contract, paperless_billing, payment_method, monthly_charges, total_charges, churn) FROM $(sql_path "$telco") WITH (FORMAT csv, HEADER true, NULL ' ')
ANALYZE shared_data.telco_churn;
SQL
    loaded+=("telco_churn")
else
    echo "skipping shared_data.telco_churn: $telco not found"
fi

# --- CDNOW purchases (sample) ---------------------------------------------------------------
cdnow=$dir/cdnow/CDNOW_sample.txt
cdnow_csv=$(mktemp)
trap 'rm -f "$script" "$cdnow_csv"' EXIT
if [ -f "$cdnow" ]; then
    if ! tr -d '\r' <"$cdnow" | awk 'NF != 5 || length($3) != 8 || $3 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }'; then
        echo "$cdnow: unexpected layout (expected 5 whitespace-separated fields, YYYYMMDD dates)" >&2
        exit 1
    fi
    tr -d '\r' <"$cdnow" |
        awk '{ printf "%s,%s,%s-%s-%s,%s,%s\n", $1, $2, substr($3,1,4), substr($3,5,2), substr($3,7,2), $4, $5 }' \
        >"$cdnow_csv"
    cat >>"$script" <<SQL
CREATE TABLE shared_data.cdnow (
    master_id   int NOT NULL,
    customer_id int NOT NULL,
    day         date NOT NULL,
    n_cds       int NOT NULL,
    dollars     float8 NOT NULL
);
COMMENT ON TABLE shared_data.cdnow IS
    'CDNOW purchases, 1/10 sample of the 1997-Q1 cohort (CDNOW_sample.txt), loaded by test/data/load_shared.sh';
\\copy shared_data.cdnow FROM $(sql_path "$cdnow_csv") WITH (FORMAT csv)
ANALYZE shared_data.cdnow;
SQL
    loaded+=("cdnow")
else
    echo "skipping shared_data.cdnow: $cdnow not found"
fi

# --- CDNOW purchases (the whole cohort) ----------------------------------------------------
master=$dir/cdnow/CDNOW_master.txt
master_csv=$(mktemp)
trap 'rm -f "$script" "$cdnow_csv" "$master_csv"' EXIT
if [ -f "$master" ]; then
    if [ "$(header_of "$master" | tr -s ' ' | sed 's/^ //')" != "customer_id date number_of_cds dollar_value" ]; then
        echo "$master: unexpected header" >&2
        exit 1
    fi
    if ! tr -d '\r' <"$master" | tail -n +2 |
            awk 'NF != 4 || length($2) != 8 || $2 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }'; then
        echo "$master: unexpected layout (expected 4 whitespace-separated fields, YYYYMMDD dates)" >&2
        exit 1
    fi
    tr -d '\r' <"$master" | tail -n +2 |
        awk '{ printf "%d,%s-%s-%s,%s,%s\n", $1, substr($2,1,4), substr($2,5,2), substr($2,7,2), $3, $4 }' \
        >"$master_csv"
    cat >>"$script" <<SQL
CREATE TABLE shared_data.cdnow_master (
    customer_id int NOT NULL,
    day         date NOT NULL,
    n_cds       int NOT NULL,
    dollars     float8 NOT NULL
);
COMMENT ON TABLE shared_data.cdnow_master IS
    'CDNOW purchases, the whole 1997-Q1 cohort (CDNOW_master.txt), loaded by test/data/load_shared.sh';
\\copy shared_data.cdnow_master FROM $(sql_path "$master_csv") WITH (FORMAT csv)
ANALYZE shared_data.cdnow_master;
SQL
    loaded+=("cdnow_master")
else
    echo "skipping shared_data.cdnow_master: $master not found"
fi

psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" -f "$script"

if [ ${#loaded[@]} -gt 0 ]; then
    for t in "${loaded[@]}"; do
        n=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "SELECT count(*) FROM shared_data.$t")
        echo "loaded shared_data.$t: $n rows"
    done
else
    echo "no shared data sets found under $dir; schema shared_data is empty"
fi
