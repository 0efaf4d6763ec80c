# The service image: `soc api`, `soc detect` and `soc run` from one build.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/soc soc
WORKDIR /srv/soc
COPY pyproject.toml README.md ./
COPY soc ./soc
COPY connectors ./connectors
# The rules and pipelines are package data (soc/detections/), installed with the code.
RUN pip install --no-cache-dir '.[server]'
# Per-run state (development keys, the compiled-rule cache) in a folder the service may write;
# by default it would go under the working directory, which root owns.
RUN install -d -o soc /srv/soc/data
USER soc
ENV SOC_DATA_DIR=/srv/soc/data SOC_DETECT__CACHE_DIR=/srv/soc/data/rule-cache
EXPOSE 8000
ENTRYPOINT ["soc"]
CMD ["run", "--host", "0.0.0.0"]
