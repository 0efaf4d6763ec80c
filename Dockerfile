# The service image: `soc api`, `soc detect` and `soc run` from one build.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/soc soc
WORKDIR /srv/soc
COPY pyproject.toml README.md ./
COPY soc ./soc
COPY connectors ./connectors
RUN pip install --no-cache-dir '.[server]'
COPY detections ./detections
USER soc
ENV SOC_DATA_DIR=/srv/soc/data
EXPOSE 8000
ENTRYPOINT ["soc"]
CMD ["run", "--host", "0.0.0.0"]
