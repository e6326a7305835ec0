package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jvisor token create|list|delete}: the daemon's API tokens (an admin's job). */
@Command(name = "token", description = "Manage the daemon's API tokens: create NAME --role ROLE, list, delete NAME.",
        subcommands = {TokenCommand.Create.class, TokenCommand.ListTokens.class, TokenCommand.Delete.class})
final class TokenCommand implements java.util.concurrent.Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("jvisor token: name a subcommand (create, list, delete)");
        return 2;
    }

    @Command(name = "create", description = "Make a token; its secret is printed this once.")
    static final class Create extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--role", required = true, description = "admin, operator (power and console) or auditor (read-only)") String role;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post("/tokens", Map.of("name", name, "role", role));
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println(answer.get("token").asText());
        }
    }

    @Command(name = "list", description = "List the tokens (names and roles; secrets are never shown again).")
    static final class ListTokens extends VmCommand.Base {
        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/tokens");
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.printf("%-24s %-9s %s%n", "NAME", "ROLE", "CREATED");
            for (JsonNode t : answer) out.printf("%-24s %-9s %s%n", t.get("name").asText(), t.get("role").asText(), t.get("created").asText());
        }
    }

    @Command(name = "delete", description = "Delete a token: requests with it are refused from now on.")
    static final class Delete extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", "/tokens/" + name, null);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println("deleted token '" + name + "'");
        }
    }
}
