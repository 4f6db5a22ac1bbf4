package spool.interop;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

/**
 * Runs Apache Kafka's command-line tools one after another in this one JVM, as their shell scripts
 * would run each in a JVM of its own (kafka-run-class.sh CLASS ARGS), so that a scenario of dozens
 * of tool runs pays for one JVM start and one warm-up.
 *
 * Requests come on stdin, one a line: tab-separated base64 fields, the main class, the text the tool
 * reads on its stdin, then its arguments. Each answer is one line on stdout: "done EXIT STDOUT STDERR"
 * (the outputs base64). While a tool runs, System.in/out/err are its own; Kafka's Exit (through which
 * the tools end, never System.exit) is redirected so that exit(n) ends the tool's main with status n
 * instead of the JVM, and the shutdown hooks a tool registers through Exit (the console producer
 * closes, and so flushes, its producer in one) run when it ends, as they would at the JVM's exit.
 */
public final class ToolRunner {
  /**
   * Thrown through the tool's main by Exit.exit/halt. Some tools catch and print it on their way out
   * (TopicCommand prints any Throwable): the line it prints is taken out of their output.
   */
  private static final class ToolExit extends RuntimeException {
    static final String LINE = "spool.interop.ToolRunner: exit";

    ToolExit() {
      super(LINE, null, false, false);
    }

    @Override
    public String toString() {
      return LINE;
    }
  }

  /** The first status a tool exited with (a tool may call exit again while unwinding); -1: none yet. */
  private static volatile int exitStatus = -1;
  private static final List<Runnable> hooks = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    PrintStream protocol = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    InputStream requests = System.in;
    redirectExit();
    BufferedReader reader = new BufferedReader(new InputStreamReader(requests, StandardCharsets.UTF_8));
    Base64.Decoder decoder = Base64.getDecoder();
    Base64.Encoder encoder = Base64.getEncoder();
    protocol.println("ready");
    for (String line; (line = reader.readLine()) != null; ) {
      if (line.isEmpty()) continue;
      String[] fields = Arrays.stream(line.split("\t", -1)).map(field -> new String(decoder.decode(field), StandardCharsets.UTF_8)).toArray(String[]::new);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int status = run(fields[0], fields[1], Arrays.copyOfRange(fields, 2, fields.length), out, err);
      protocol.println("done " + status + " " + encoder.encodeToString(withoutExitLines(out)) + " " + encoder.encodeToString(withoutExitLines(err)));
    }
  }

  private static int run(String mainClass, String stdin, String[] args, ByteArrayOutputStream out, ByteArrayOutputStream err) {
    PrintStream toolOut = new PrintStream(out, true, StandardCharsets.UTF_8);
    PrintStream toolErr = new PrintStream(err, true, StandardCharsets.UTF_8);
    System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
    System.setOut(toolOut);
    System.setErr(toolErr);
    redirectScalaConsole(toolOut, toolErr);
    exitStatus = -1;
    synchronized (hooks) {
      hooks.clear();
    }
    int status;
    try {
      Method main = Class.forName(mainClass).getMethod("main", String[].class);
      main.invoke(null, (Object) args);
      status = 0;
    } catch (InvocationTargetException e) {
      if (!(e.getCause() instanceof ToolExit)) {
        // An exception out of main: the JVM prints it and exits with 1.
        e.getCause().printStackTrace(toolErr);
        status = 1;
      } else {
        status = 0;
      }
    } catch (ReflectiveOperationException e) {
      e.printStackTrace(toolErr);
      status = 1;
    }
    if (exitStatus >= 0) status = exitStatus;
    List<Runnable> registered;
    synchronized (hooks) {
      registered = new ArrayList<>(hooks);
      hooks.clear();
    }
    for (Runnable hook : registered) {
      try {
        hook.run();
      } catch (RuntimeException e) {
        if (!(e instanceof ToolExit)) e.printStackTrace(toolErr);
      }
    }
    toolOut.flush();
    toolErr.flush();
    return status;
  }

  /**
   * Scala's Console (println in the tools Kafka 3.x writes in Scala, such as kafka.admin.ConfigCommand)
   * holds the System.out of its first use: pointed at this tool's streams too, where Scala is on the
   * classpath.
   */
  private static void redirectScalaConsole(PrintStream out, PrintStream err) {
    try {
      Class<?> console = Class.forName("scala.Console$");
      Object module = console.getField("MODULE$").get(null);
      console.getMethod("setOutDirect", PrintStream.class).invoke(module, out);
      console.getMethod("setErrDirect", PrintStream.class).invoke(module, err);
    } catch (ClassNotFoundException e) {
      // No Scala here: nothing to redirect.
    } catch (ReflectiveOperationException e) {
      e.printStackTrace(err);
    }
  }

  /** Exit.setExitProcedure/setHaltProcedure/setShutdownHookAdder, wherever this Kafka keeps Exit. */
  private static void redirectExit() throws ReflectiveOperationException {
    Class<?> exit;
    try {
      exit = Class.forName("org.apache.kafka.common.utils.internals.Exit"); // 4.2+
    } catch (ClassNotFoundException e) {
      exit = Class.forName("org.apache.kafka.common.utils.Exit");
    }
    Class<?> procedure = Class.forName(exit.getName() + "$Procedure");
    Class<?> hookAdder = Class.forName(exit.getName() + "$ShutdownHookAdder");
    Object exitProcedure =
        Proxy.newProxyInstance(
            procedure.getClassLoader(),
            new Class<?>[] {procedure},
            (proxy, method, methodArgs) -> {
              if (method.getDeclaringClass() == Object.class) return objectMethod(proxy, method, methodArgs);
              if (exitStatus < 0) exitStatus = (Integer) methodArgs[0];
              throw new ToolExit();
            });
    Object adder =
        Proxy.newProxyInstance(
            hookAdder.getClassLoader(),
            new Class<?>[] {hookAdder},
            (proxy, method, methodArgs) -> {
              if (method.getDeclaringClass() == Object.class) return objectMethod(proxy, method, methodArgs);
              synchronized (hooks) {
                hooks.add((Runnable) methodArgs[1]);
              }
              return null;
            });
    exit.getMethod("setExitProcedure", procedure).invoke(null, exitProcedure);
    exit.getMethod("setHaltProcedure", procedure).invoke(null, exitProcedure);
    exit.getMethod("setShutdownHookAdder", hookAdder).invoke(null, adder);
  }

  /** equals, hashCode and toString of the proxies: identity. */
  private static Object objectMethod(Object proxy, Method method, Object[] args) {
    switch (method.getName()) {
      case "equals":
        return proxy == args[0];
      case "hashCode":
        return System.identityHashCode(proxy);
      default:
        return "ToolRunner$" + method.getDeclaringClass().getSimpleName();
    }
  }

  private static byte[] withoutExitLines(ByteArrayOutputStream output) {
    String text = output.toString(StandardCharsets.UTF_8);
    return text.replace(ToolExit.LINE + "\n", "").getBytes(StandardCharsets.UTF_8);
  }
}
