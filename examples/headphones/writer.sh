#!/bin/sh
# A deterministic stand-in for an LLM writer. It reads the step input (JSON) on stdin
# and prints its draft as a JSON string. The first attempt ignores the brief; a retry,
# which carries the gates' findings as feedback, follows it.
input=$(cat)
case "$input" in
  *'"feedback":[]'*)
    printf '%s\n' '"Introducing our newest wireless noise-cancelling headphones, engineered for people who want to escape the chaos of daily life and enjoy every detail of their favourite songs, podcasts and calls, with a comfortable fit, rich bass, clear highs and a battery that easily lasts all week long."'
    ;;
  *)
    printf '%s\n' '"Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone."'
    ;;
esac
