/**
 * Stands in for LocalStack's DynamoDB Local agent (`ddb-local-loader`, a patch that lifts the limit of
 * 20 global secondary indexes), which LocalStack downloads from GitHub and machines here cannot reach.
 * Spool's table has no secondary index, so the agent has nothing to do. test/localstack/run.ts compiles
 * it into the jar LocalStack passes to `java -javaagent:`.
 */
public final class NoopAgent {
  public static void premain(String arguments) {}
}
