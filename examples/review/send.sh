#!/bin/sh
# A stand-in for sending the reply: it answers with a receipt (JSON on stdout).
input=$(cat)
text=$(printf '%s' "$input" | sed -n 's/.*"payload":\("[^"]*"\).*/\1/p')
printf '{"sent": true, "text": %s}\n' "${text:-null}"
