# Sourced by ./jvisor, ./test.sh and bench scripts: finds a JDK 22+ and the project's paths.
# No one should have to set JAVA_HOME by hand, so we look in the usual places ourselves.

jvisor_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

jdk_major() { # prints the feature version of the JDK at $1, or nothing
  local rel="$1/release"
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 1
  if [ -f "$rel" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel"
  else
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
  fi
}

find_jdk() {
  local cand v
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$cand" ] && [ -d "$cand" ] || continue
    v=$(jdk_major "$cand" 2>/dev/null) || continue
    if [ -n "$v" ] && [ "$v" -ge 22 ]; then echo "$cand"; return 0; fi
  done
  return 1
}

if ! JAVA_HOME=$(find_jdk); then
  echo "jvisor: no JDK 22 or newer found (looked at \$JAVA_HOME and /usr/lib/jvm/*)" >&2
  echo "jvisor: install one, e.g. apt-get install openjdk-25-jdk-headless" >&2
  exit 2
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own libraries use sun.misc.Unsafe, which JDK 24+ warns about on every build.
if [ "$(jdk_major "$JAVA_HOME")" -ge 24 ]; then
  case "${MAVEN_OPTS:-}" in *sun-misc-unsafe*) ;; *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;; esac
fi

# Rebuild the jar when any source or the pom is newer than it.
jvisor_jar="$jvisor_root/target/jvisor.jar"
jvisor_build_if_stale() {
  if [ ! -f "$jvisor_jar" ] || [ -n "$(find "$jvisor_root/src/main" "$jvisor_root/pom.xml" -newer "$jvisor_jar" -print -quit)" ]; then
    echo "jvisor: building..." >&2
    (cd "$jvisor_root" && mvn -B -q -Dstyle.color=never -DskipTests package) >&2 || { echo "jvisor: build failed" >&2; exit 2; }
  fi
}

# The JDK's AOT cache (JEP 483/514/515) of the VMM's classes, loaded, linked and profiled: a VMM
# that starts from it is ready sooner (a restore from a snapshot answers ~40% sooner here) and
# holds less memory. The first `jvisor run` after a build records what it loads (quietly, at its
# exit); the next jvisor command makes the cache from that (~1-2 s, once) and every later one maps
# it. A cache made from another jar is ignored, by the JVM and by this check. JVISOR_AOT=off
# turns it off.
jvisor_aot="$jvisor_root/target/jvisor.aot"
jvisor_aot_cp="$jvisor_jar:$jvisor_root/target/lib/*"
jvisor_jvm_flags="--enable-native-access=ALL-UNNAMED -XX:+UseParallelGC" # the same when the cache is made and used
jvisor_aot_flags() { # COMMAND: prints the JVM flags that use the cache, or record for one
  [ "${JVISOR_AOT:-on}" = off ] && return 0
  local conf pid
  for conf in "$jvisor_root"/target/aot-training.*.conf; do
    [ -f "$conf" ] || continue
    pid=${conf%.conf}; pid=${pid##*.}
    kill -0 "$pid" 2>/dev/null && continue # that VMM still runs: it writes the record at its exit
    if [ "$conf" -nt "$jvisor_jar" ] && ! { [ -f "$jvisor_aot" ] && [ "$jvisor_aot" -nt "$jvisor_jar" ]; }; then
      echo "jvisor: making the JVM's AOT cache from the last run (once per build)" >&2
      if "$JAVA_HOME/bin/java" $jvisor_jvm_flags -XX:AOTMode=create -XX:AOTConfiguration="$conf" -XX:AOTCache="$jvisor_aot.$$" \
           -cp "$jvisor_aot_cp" >"$jvisor_root/target/aot.log" 2>&1; then
        mv -f "$jvisor_aot.$$" "$jvisor_aot"
      else
        rm -f "$jvisor_aot.$$"; echo "jvisor: could not make it (see target/aot.log); going on without" >&2
      fi
    fi
    rm -f "$conf"
  done
  if [ -f "$jvisor_aot" ] && [ "$jvisor_aot" -nt "$jvisor_jar" ]; then
    echo "-XX:AOTCache=$jvisor_aot"
  elif [ "${1:-}" = run ]; then
    echo "-XX:AOTMode=record -XX:AOTConfiguration=$jvisor_root/target/aot-training.$$.conf" \
         "-XX:+UnlockDiagnosticVMOptions -XX:-DisplayVMOutput -Xlog:aot=off -Xlog:cds=off"
  fi
}
