#!/bin/sh
# A stand-in for an LLM that drafts a support reply. It reads the step input (JSON) on
# stdin and prints the reply as a JSON string. The customer's name picks the draft, so
# a run is repeatable: "Ana" gets a careful reply; anyone else one the gates doubt.
input=$(cat)
name=$(printf '%s' "$input" | sed -n 's/.*"customer":"\([^"]*\)".*/\1/p')
case "$name" in
  Ana)
    printf '"Hi Ana, thank you for your patience. Your refund for order 1042 is on its way and should reach you within five working days."\n'
    ;;
  *)
    printf '"Hi %s, we guarantee your refund for order 1042 today. If anything is missing, write to me at sam.lee@example.com or call 415-555-0100, I always answer."\n' "${name:-there}"
    ;;
esac
