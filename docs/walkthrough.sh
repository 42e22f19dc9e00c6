#!/usr/bin/env bash
# A whole purchase with curl against the embedded default started by scripts/run
# (demo users; e-mails and SMS land in the local outbox, read with `ptm outbox`).
# Usage: docs/walkthrough.sh [http://127.0.0.1:8000]
set -euo pipefail
API=${1:-http://127.0.0.1:8000}
PTM=${PTM:-.venv/bin/ptm}
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
post() { curl -sS -X POST "$API$1" -H 'content-type: application/json' "${@:2}"; }
# The latest code in the local outbox for a message whose key starts with $1.
code_for() {
  for _ in $(seq 50); do
    c=$(.venv/bin/python - "$1" <<'PY'
import email, email.policy, pathlib, re, sys
from ptm.settings import Settings
for p in sorted(pathlib.Path(Settings().outbox_dir).glob(f"*{sys.argv[1]}*.eml"), reverse=True):
    msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    print(re.search(r"^ +(\d{6})$", text, re.M).group(1)); break
PY
)
    [ -n "$c" ] && { echo "$c"; return; }
    sleep 0.2
  done
  echo "no code in the outbox for $1" >&2; exit 1
}

echo "1. Iniciar sesión (contraseña + código enviado al correo registrado)"
ATTEMPT=$(post /api/v1/auth/login -d '{"username":"comprador","password":"Compra-Oro-2026!"}' | json "['attempt_id']")
post "/api/v1/auth/login/$ATTEMPT/code" -d '{"channel":"email"}' >/dev/null
CODE=$(code_for "$ATTEMPT")
TOKEN=$(post "/api/v1/auth/login/$ATTEMPT/verify" -d "{\"code\":\"$CODE\"}" | json "['access_token']")
AUTH=(-H "Authorization: Bearer $TOKEN")

echo "2. Registrar la compra (vendedor y datos de la transacción)"
TODAY=$(TZ=America/Bogota date +%F)  # the Colombian calendar day
PURCHASE=$(post /api/v1/purchases "${AUTH[@]}" -H "Idempotency-Key: demo-$(date +%s)" -d "{
  \"seller\": {\"expediente\": \"HJK-08141\", \"doc_type\": \"NIT\", \"doc_number\": \"900512347-2\",
               \"razon_social\": \"Minera El Diluvio Gold S.A.S.\"},
  \"transaction\": {\"invoice_date\": \"$TODAY\", \"transaction_date\": \"$TODAY\",
                    \"sha256\": \"$(printf demo | sha256sum | cut -c1-64)\", \"currency\": \"COP\",
                    \"department_code\": \"05\", \"municipality_code\": \"05001\"}}" | json "['id']")
echo "   compra $PURCHASE"

echo "3. Cargar las cantidades del vendedor y guardar"
curl -sS -X PUT "$API/api/v1/purchases/$PURCHASE/lines" "${AUTH[@]}" -H 'content-type: application/json' \
  -d '{"lines":[{"origin_code":"OC-ORO-DEMO-0001","quantity":"125.50","unit_price":"312000"}]}' >/dev/null
post "/api/v1/purchases/$PURCHASE/save" "${AUTH[@]}" >/dev/null
curl -sS "$API/api/v1/purchases?scope=in_progress" "${AUTH[@]}" | json "['page']"

echo "4. Enviar: se reserva la cantidad y el vendedor recibe el código de aceptación"
post "/api/v1/purchases/$PURCHASE/submit" "${AUTH[@]}" | json "['detail']"
ACCEPT=$(code_for "$PURCHASE")

echo "5. Validar la transacción con el código del vendedor"
POSITION=$(post "/api/v1/purchases/$PURCHASE/validate" "${AUTH[@]}" -d "{\"code\":\"$ACCEPT\"}" -D - -o /dev/null \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="x-ptm-position"{print $2}')
echo "6. Saldos del comprador (leídos después de su propia escritura)"
curl -sS "$API/api/v1/balances" "${AUTH[@]}" -H "X-PTM-Min-Position: $POSITION" | python3 -m json.tool
